"""Anonymization on Apache Spark: the same fitted PrivacyTransformer, applied partition by partition.

    session     the SparkSession (local mode or the cluster the job runs in), and the one-line refusal
                when Java or pyspark is missing
    errors      PrivmlError across the Python-worker boundary, never a data value in a Spark log
    columns     the transformer's column techniques fitted on the driver, applied per partition
    recoding    global recoding: the quasi-identifier histogram by a Spark aggregation, the lattice on it
    mondrian    distributed top-level cuts, the in-memory Mondrian per partition, one stitched router
    job         policy + Spark DataFrame -> released DataFrame, report, fitted transformer

pyspark is the optional extra `privml[spark]`; nothing outside this package imports it.
"""
