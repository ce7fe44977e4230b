"""The local lab: real etcd, Patroni/PostgreSQL, Redis/Sentinel, HAProxy, the freight app and its monitoring
(Prometheus and exporters), laid out like the freight platform (three AZs + a warm-standby DR region).
See docs/lab.md.

    from harness.lab import Lab, running_lab
"""

from harness.lab.lab import Lab, default_network_mode, running_lab
from harness.lab.topology import COMPONENTS, PRIMARY_ZONES, ZONES, port_table

__all__ = ["Lab", "running_lab", "default_network_mode", "COMPONENTS", "ZONES", "PRIMARY_ZONES", "port_table"]
