"""The upload page and its small JSON API, served locally by Flask and on AWS by a Lambda function.

``catdog.web.api`` holds everything both servers do (presign an upload, read a label, describe the
service, hand out the static page); each server is only a thin set of routes over it.
"""
