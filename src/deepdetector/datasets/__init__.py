"""Labelled data for training and evaluation (torch-free): manifests, dataset layouts, groups and splits.

:mod:`deepdetector.datasets.manifest` is the one reader of manifest CSVs and dataset folders;
training and evaluation both use it, so they agree on which files a manifest lists, what each is
(label, image or video, see :mod:`deepdetector.media.kinds`) and which split group it belongs to.
"""
