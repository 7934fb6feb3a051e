"""bumble's traceback for an HCI command cut short by a lost transport, or for an answer after batmond gave up on
its request, stays out of the daemon's log (the soak's "no traceback" check found the first after every adapter
reopen, the fleet bench the second under load); other errors from bumble still get through."""

from __future__ import annotations

import asyncio
import logging

import pytest
from bumble.transport.common import TransportLostError

import batmond.transports.ble  # noqa: F401 - installs the filter


def log_exception(error: Exception, logger: str = "bumble.host") -> None:
    try:
        raise error
    except Exception:
        logging.getLogger(logger).exception("!!! Exception while sending command:")


def test_a_lost_transport_is_not_logged_with_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="bumble.host"):
        log_exception(TransportLostError("transport lost"))
    assert not caplog.records


def test_other_errors_of_bumble_host_still_are(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="bumble.host"):
        log_exception(ValueError("unexpected"))
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ValueError]


def test_a_late_answer_to_a_request_given_up_on_is_not_logged_with_a_traceback(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.ERROR, logger="bumble.transport.common"):
        log_exception(asyncio.InvalidStateError("invalid state"), "bumble.transport.common")
        log_exception(KeyError("handle"), "bumble.transport.common")
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [KeyError]
