"""RFC 3339 timestamps for predicates, honouring ``SOURCE_DATE_EPOCH`` for reproducible output."""

from __future__ import annotations

import datetime as dt
import os


def now_rfc3339() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
