"""The sandbox web app: every vendor API mounted under its own prefix on one local server.

Prefixes are what a tenant's `base_url` points at (`<sandbox>/meta`, `<sandbox>/google-ads`,
...). The app holds the `World` (tenants, clock) and the `FaultBoard` in `app.state`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.api import (
    control,
    fx,
    ga4,
    google_ads,
    google_oauth,
    linkedin_ads,
    meta_ads,
    shopify,
    stripe,
)
from sandbox.faults import FaultBoard
from sandbox.world.tenant_world import World

VENDOR_PREFIXES = {
    "google_ads": "/google-ads",
    "meta_ads": "/meta",
    "linkedin_ads": "/linkedin",
    "ga4": "/ga4",
    "shopify": "/shopify/{shop}",
    "stripe": "/stripe",
}


def create_app(world: World, faults: FaultBoard | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Mount("/_sandbox", routes=control.routes),
            Mount("/oauth2", routes=google_oauth.routes),
            Mount("/google-ads", routes=google_ads.routes),
            Mount("/meta", routes=meta_ads.routes),
            Mount("/linkedin", routes=linkedin_ads.routes),
            Mount("/ga4", routes=ga4.routes),
            Mount("/shopify/{shop}", routes=shopify.routes),
            Mount("/stripe", routes=stripe.routes),
            Mount("/fx", routes=fx.routes),
        ]
    )
    app.state.world = world
    app.state.faults = faults or FaultBoard()
    app.state.slack_inbox = []  # what the demo's failure alerts posted to /_sandbox/slack
    return app
