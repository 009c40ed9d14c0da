"""Fault-injection suite against the real stack (`make chaos`; a short run is part of `make test`).

- `plan`: what one run injects (the short and the full plan);
- `clips`: real-footage clips cut from the project's fixtures, and the offline truth per clip
  (`segment_video` of the same file);
- `faults`: tiny loopback HTTP servers (5xx, slow drip) and the unreachable URL;
- `stackctl`: a stack of its own (ports, run dir, per-program env) and its supervisord controls
  (SIGKILL a service, restart Kafka/Milvus/Redis);
- `observe`: publishing uploads, a recorder of every topic the suite checks, consumer lag,
  Milvus rows and categories through the query API;
- `report`: the table printed at the end.
"""
