"""The upload page and its small JSON API: ``catdog.web.api`` holds what the web function does (presign
an upload, read a label, describe the service, hand out the static page); ``functions/web/app.py`` is
the routes over it, on AWS and, through ``local/http_api.py``, in ``catdog serve``.
"""
