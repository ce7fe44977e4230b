"""moto's server with one fix: PromoteReadReplica clears ReadReplicaSourceDBInstanceIdentifier, as AWS does.

moto 5.2 keeps the source after a promotion, so a promoted database would still describe itself as a replica
and a harness that (rightly) waits for the source to disappear would wait forever. Only the region drill's
tests (test_aws_region.py) run this server; everything else about moto is unchanged.

    python tests/cloud/moto_promote_fix.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import sys

from moto.rds.models import RDSBackend
from moto.server import main

_promote = RDSBackend.promote_read_replica


def promote_read_replica(self, db_kwargs):
    database = self.databases[db_kwargs["db_instance_identifier"]]
    source = database.source_db_instance_identifier
    promoted = _promote(self, db_kwargs)
    if source:
        try:
            primary = self.find_db_from_id(source)
            for ref in (database.db_instance_arn, database.db_instance_identifier):
                if ref in primary.replicas:
                    primary.replicas.remove(ref)
        except Exception:  # noqa: BLE001 - the source is gone (deleted or renamed): nothing to unlink
            pass
    promoted.source_db_instance_identifier = None
    return promoted


RDSBackend.promote_read_replica = promote_read_replica

if __name__ == "__main__":
    main(sys.argv[1:])
