"""A Spark standalone cluster on this machine: one master and N workers on 127.0.0.1.

pip's pyspark has no ``sbin/start-master.sh``, but it ships ``bin/spark-class`` and Spark's
deploy classes. :class:`LocalCluster` starts a master and workers with them, on free ports
(web UIs included), waits until every worker is registered, and stops them by PID. Each
process is a separate JVM and each executor a separate JVM with its own Python workers, as on a
real cluster: scripts that work here work under ``spark-submit`` on one.

From a shell, ``python -m abcspark.standalone --workers 2`` starts one, prints its master URL
and stops it on Ctrl-C.
"""

from abcspark.standalone.cluster import LocalCluster
from abcspark.standalone.processes import descendants, spark_class

__all__ = ["LocalCluster", "descendants", "spark_class"]
