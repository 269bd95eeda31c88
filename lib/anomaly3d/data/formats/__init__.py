"""One module per on-disk format; each exposes ``DATASET_ID``, ``CATEGORIES`` (official list), ``SPLITS``,
``list_categories(root)``, ``index_split(root, category, split)``, ``check_record(record, deep=False)``,
``load_sample(record, **options)`` and ``load_split(root, category, split, **options) -> LazySamples``.

Look a module up by dataset id with :func:`anomaly3d.data.registry.get_format`.
"""
