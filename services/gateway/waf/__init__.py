"""The gateway's web application firewall (IP sets, rate-based rule, signatures, limits)."""

from services.gateway.waf.engine import Waf, allowed_methods_header

__all__ = ["Waf", "allowed_methods_header"]
