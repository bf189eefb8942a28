"""Fixtures the staff-read tests borrow: the console's municipality and the certificate world."""

from tests.console.conftest import office, sign_in  # noqa: F401 - fixtures
from tests.documents.certificate_fixtures import world  # noqa: F401 - fixture
