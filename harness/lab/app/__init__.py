"""The freight load service: a small ASGI app (starlette + uvicorn) the lab runs one replica of per zone.

    POST /loads        JSON body -> inserts a row; 201 {"id": ...} only after the commit succeeded
    GET  /loads/{id}   read-through Redis cache (header X-Cache: hit | miss | bypass)
    GET  /health       DB primary (short timeout) + cache via Sentinel; 200 or 503, with details
    GET  /version      {"version", "zone", "name", "broken"}

Run: `python -m harness.lab.app --port 18081 --db-dsn ... --sentinels h:p,... [--version V] [--broken]`.
Every option also reads an environment variable (DRILL_APP_<OPTION>), so a rollout can change the version
or ship a "broken build" (`--broken`: /health answers 503, everything else still works) without code edits.
"""
