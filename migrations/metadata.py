"""Every table segbot has, on one MetaData: what migrations and test cleanup work from.

Importing a package's models registers its tables on `core.db.Base.metadata`.
"""

import broadcasts.models  # noqa: F401
import core.inbox
import core.models  # noqa: F401
import crm_sync.models  # noqa: F401
import journeys.models  # noqa: F401
import segments.models  # noqa: F401
from core.db import Base

metadata = Base.metadata
