"""The read API's hot path builds ``DailyPay`` bodies as dicts: same fields, order and JSON."""

from datetime import UTC, date, datetime

import orjson
import pytest
from fastapi.responses import JSONResponse

from driverpay.api import ApiError, OrjsonResponse, _daily_pay
from driverpay.api_models import DailyPay

ROW = ("d-1", date(2026, 11, 24), 1500, "USD", 4, datetime(2026, 11, 25, 6, 0, 0, 123456, UTC))
ROW += (True, False, 7)


def test_the_daily_pay_body_is_the_model_field_for_field_in_order() -> None:
    body = _daily_pay(ROW)
    assert list(body) == list(DailyPay.model_fields)
    assert DailyPay.model_validate(body).model_dump() == body
    assert body["total"] == "15.00"
    assert body["as_of"] == "2026-11-25T06:00:00.123Z"
    assert (
        _daily_pay(("d-2", date(2026, 11, 24), 297, "JPY", 1, None, False, False, 1))["total"]
        == "297"
    )


def test_orjson_bodies_are_the_bytes_starlette_would_send() -> None:
    body = _daily_pay(ROW) | {"driver_id": "d-ü"}
    starlette = JSONResponse(body).body  # json.dumps, compact, non-ASCII kept
    assert OrjsonResponse(body).body == starlette == orjson.dumps(body)
    assert DailyPay.model_validate(body).model_dump_json().encode() == starlette


def test_an_unknown_stored_currency_is_a_500_not_a_crash() -> None:
    with pytest.raises(ApiError) as err:
        _daily_pay(("d-3", date(2026, 11, 24), 1, "XXX?", 1, None, False, False, 1))
    assert err.value.status == 500
