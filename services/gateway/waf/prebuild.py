"""Build the WAF's signature database into the installed package (container images run this
once at build time; see matcher.py)."""

from services.gateway.waf.matcher import prebuild

if __name__ == "__main__":
    print(prebuild())
