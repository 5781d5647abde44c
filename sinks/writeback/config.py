"""Which orgs write back to VAN, and how: ``writeback.yaml`` in the data directory.

```yaml
orgs:
  demo-org:
    app_name: fieldstream-demo   # the org's VAN application name
    mode: 1                      # mapped-back bodies: 0 My Voters, 1 My Campaign
    codes_file: van-codes.yaml   # the org's VAN codes (relative to this file)
    sync_sources: [mytool]       # source systems, besides the VAN route, mapped back
    skip_matching: false         # true: VAN keeps two like attempts within the hour
    rate_per_second: 5           # optional: this org's key, requests per second
    concurrency: 4               # optional: this org's key, requests in flight
```

Contacts that came through the VAN-compatible route are always written back for an org listed
here (the tool sent them to fieldstream instead of VAN). The org's API key is a secret in
settings (``FIELDSTREAM_VAN__API_KEYS``); an org without a key is refused at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import read_yaml
from core.errors import ConfigError
from schemas.van_codes import load_codes
from sinks.writeback.body import ReverseCodes


@dataclass(frozen=True)
class OrgWriteback:
    org_id: str
    app_name: str
    mode: int = 0
    codes: ReverseCodes = field(default_factory=ReverseCodes)
    sync_sources: frozenset[str] = frozenset()
    skip_matching: bool = False
    rate_per_second: float | None = None
    concurrency: int | None = None


KEYS = {"app_name", "mode", "codes_file", "sync_sources", "skip_matching", "rate_per_second",
        "concurrency"}  # fmt: skip


def load_writeback(path: Path) -> dict[str, OrgWriteback]:
    """The orgs in ``path``; {} when the file does not exist (no write-back configured)."""
    if not path.exists():
        return {}
    data = read_yaml(path, "write-back config")
    if not isinstance(data, dict) or not isinstance(data.get("orgs") or {}, dict):
        raise ConfigError(f"write-back config {path} must have 'orgs:' mapping org id -> settings")
    return {
        str(org): _org(str(org), value, path) for org, value in (data.get("orgs") or {}).items()
    }


def _org(org: str, value: Any, path: Path) -> OrgWriteback:
    where = f"write-back config {path}: orgs.{org}"
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(set(value) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(KEYS)}")
    app_name = value.get("app_name")
    if not isinstance(app_name, str) or not app_name.strip():
        raise ConfigError(f"{where}.app_name must be the org's VAN application name")
    mode = value.get("mode", 0)
    if mode not in (0, 1) or isinstance(mode, bool):
        raise ConfigError(f"{where}.mode must be 0 (My Voters) or 1 (My Campaign)")
    sources = value.get("sync_sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{where}.sync_sources must be a list of source systems")
    codes = ReverseCodes()
    if value.get("codes_file"):
        file = Path(str(value["codes_file"]))
        codes = ReverseCodes.from_sections(
            load_codes(file if file.is_absolute() else path.parent / file).describe()
        )
    elif sources:
        raise ConfigError(f"{where}: sync_sources needs codes_file (the org's VAN codes)")
    rate, slots = value.get("rate_per_second"), value.get("concurrency")
    if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
        raise ConfigError(f"{where}.rate_per_second must be a positive number")
    if slots is not None and (not isinstance(slots, int) or slots < 1):
        raise ConfigError(f"{where}.concurrency must be a whole number >= 1")
    return OrgWriteback(
        org_id=org,
        app_name=app_name.strip(),
        mode=mode,
        codes=codes,
        sync_sources=frozenset(sources),
        skip_matching=bool(value.get("skip_matching", False)),
        rate_per_second=float(rate) if rate is not None else None,
        concurrency=slots,
    )
