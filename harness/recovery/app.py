"""app-rollback (plan 5.3.1, 5.2.3): roll every AZ app replica back to a known-good version, one at a time
(HAProxy keeps serving from the others), and verify each is healthy before the next."""

from __future__ import annotations

import httpx

from harness.errors import HarnessError
from harness.lab import apps
from harness.recovery.procedure import Context, Procedure, Step, poll

DEFAULT_GOOD = apps.DEFAULT_VERSION


def _replicas(ctx: Context) -> list[str]:
    return [n for n, r in ctx.lab.components.items() if r.get("kind") == "app" and r.get("zone") != "dr"]


def find_bad(ctx: Context) -> str:
    bad = [n for n in _replicas(ctx) if (v := apps.version_of(ctx.lab.ctx, n)) is None or v.get("broken")]
    ctx.facts["bad"] = bad
    return f"unhealthy/broken replicas: {', '.join(bad) or 'none'}"


def roll_back(ctx: Context) -> str:
    version = ctx.param("version", DEFAULT_GOOD)
    done = []
    for name in _replicas(ctx):
        now = apps.version_of(ctx.lab.ctx, name)
        if now and now.get("version") == version and not now.get("broken"):
            continue
        ctx.lab.deploy_app(name, version)
        poll(f"{name} to answer /health 200", lambda n=name: apps.health_of(ctx.lab.ctx, n)[0] == 200, 30)
        done.append(name)
    return f"rolled back to {version}: {', '.join(done) or 'nothing to do'}"


def verify(ctx: Context) -> str:
    version = ctx.param("version", DEFAULT_GOOD)
    wrong = [n for n in _replicas(ctx) if (apps.version_of(ctx.lab.ctx, n) or {}).get("version") != version]
    if wrong:
        raise HarnessError(f"still not at {version}: {', '.join(wrong)}")
    poll(
        "the app to answer /health 200 through HAProxy",
        lambda: httpx.get(ctx.lab.app_url + "/health", timeout=2.0).status_code == 200,
        30,
    )
    return f"every replica runs {version}; app healthy through HAProxy"


APP_ROLLBACK = Procedure(
    "app-rollback",
    "5.3.1, 5.2.3",
    "roll the app back to the previous version",
    steps=(
        Step("find the broken replicas", find_bad),
        Step("roll back one replica at a time", roll_back),
        Step("verify versions and health", verify),
    ),
    params={"version": f"the known-good version ({DEFAULT_GOOD})"},
)
