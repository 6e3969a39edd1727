"""Pretrained backbones that load their weights from local files or packages, never from a model hub."""
