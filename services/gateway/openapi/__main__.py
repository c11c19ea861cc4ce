"""`python -m services.gateway.openapi > docs/gateway-openapi.json`: the combined document."""

import sys

from services.gateway.openapi.public import render

sys.stdout.write(render())
