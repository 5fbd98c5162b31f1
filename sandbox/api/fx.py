"""A Frankfurter-style FX API: ECB reference rates by day, EUR base, no rows on closed days.

`GET /fx/{start}..{end}?base=EUR&symbols=USD,GBP` answers a time series,
`GET /fx/{date}` one day (the latest publication on or before it) and `GET /fx/latest` the
sandbox's last published day, in the shapes api.frankfurter.app uses. No authentication, as the
public service. Rates for another base are cross rates rounded to 5 significant decimals.
"""

from __future__ import annotations

from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aya.currencies import ISO_4217_CODES
from sandbox.api.common import served_days, world_of
from sandbox.world.fx import BASE_CURRENCY, is_publication_day, published_rate

_DEFAULT_SYMBOLS = ("USD", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD")


class _UnknownCurrencyError(ValueError):
    """A currency code the service does not know."""


def _currencies(request: Request) -> tuple[str, tuple[str, ...]]:
    base = request.query_params.get("base", request.query_params.get("from", BASE_CURRENCY))
    raw = request.query_params.get("symbols", request.query_params.get("to"))
    symbols = tuple(s.strip().upper() for s in raw.split(",")) if raw else _DEFAULT_SYMBOLS
    for code in (base.upper(), *symbols):
        if code not in ISO_4217_CODES:
            raise _UnknownCurrencyError(f"{code} is not a supported currency")
    return base.upper(), tuple(s for s in symbols if s != base.upper())


def _rates(base: str, symbols: tuple[str, ...], day: date) -> dict[str, float]:
    """Rates of `symbols` per 1 `base` published on `day` (which must be a publication day)."""
    if base == BASE_CURRENCY:
        return {s: float(published_rate(s, day)) for s in symbols}
    base_rate = published_rate(base, day)
    return {s: float(round(published_rate(s, day) / base_rate, 5)) for s in symbols}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


async def rates(request: Request) -> JSONResponse:
    """Dispatch `/{start}..{end}` to a time series, `/{date}` and `/latest` to one day."""
    spec = request.path_params["spec"]
    try:
        base, symbols = _currencies(request)
        if ".." in spec:
            return _series(request, spec, base, symbols)
        return _single_day(request, spec, base, symbols)
    except _UnknownCurrencyError as error:
        return _error(str(error), 422)
    except ValueError:
        return _error("not found", 404)


def _series(request: Request, spec: str, base: str, symbols: tuple[str, ...]) -> JSONResponse:
    world = world_of(request)
    start_text, _, end_text = spec.partition("..")
    start = date.fromisoformat(start_text)
    end = date.fromisoformat(end_text) if end_text else date.max
    days = [d for d in served_days(world, start, end) if is_publication_day(d)]
    return JSONResponse(
        {
            "amount": 1.0,
            "base": base,
            "start_date": (days[0] if days else start).isoformat(),
            "end_date": (days[-1] if days else start).isoformat(),
            "rates": {d.isoformat(): _rates(base, symbols, d) for d in days},
        }
    )


def _single_day(request: Request, spec: str, base: str, symbols: tuple[str, ...]) -> JSONResponse:
    last_served = world_of(request).today_date() - timedelta(days=1)
    wanted = last_served if spec == "latest" else min(date.fromisoformat(spec), last_served)
    published = next(
        wanted - timedelta(days=back)
        for back in range(10)
        if is_publication_day(wanted - timedelta(days=back))
    )
    return JSONResponse(
        {
            "amount": 1.0,
            "base": base,
            "date": published.isoformat(),
            "rates": _rates(base, symbols, published),
        }
    )


routes = [Route("/{spec:str}", rates)]
