"""A client team's first steps, through the Python client generated from /openapi.json.

Registers a stock item, receives stock, places an order and cancels it, then checks that a
refusal (409) and invalid input (400) arrive as the generated Problem type. Run by .ci/client
with the generated package `supplyline_client` on the path, the server's base URL in
SUPPLYLINE_URL, and tokens for a farmer and a restaurant in FARMER_TOKEN and RESTAURANT_TOKEN.
"""

import os
import sys

from supplyline_client import AuthenticatedClient
from supplyline_client.api.orders import cancel_order, place_order
from supplyline_client.api.stock import receive_stock, register_stock_item
from supplyline_client.models import (
    CancelOrderRequest,
    CommandAnswer,
    PlaceOrderRequest,
    Problem,
    ReceiveStockRequest,
    RegisterStockItemRequest,
)


def accepted(response, status):
    """The answer of an accepted command, after checking its status and type."""
    if response.status_code != status or not isinstance(response.parsed, CommandAnswer):
        sys.exit(f"expected {status} and a CommandAnswer, got {response.status_code}: {response.content!r}")
    return response.parsed


def refused(response, status):
    """The problem of a refused command, after checking its status and type."""
    if response.status_code != status or not isinstance(response.parsed, Problem):
        sys.exit(f"expected {status} and a Problem, got {response.status_code}: {response.content!r}")
    return response.parsed


def main():
    base = os.environ["SUPPLYLINE_URL"]
    farmer = AuthenticatedClient(base_url=base, token=os.environ["FARMER_TOKEN"])
    restaurant = AuthenticatedClient(base_url=base, token=os.environ["RESTAURANT_TOKEN"])

    item = accepted(
        register_stock_item.sync_detailed(
            client=farmer,
            body=RegisterStockItemRequest.from_dict({
                "product_name": "Heirloom tomatoes", "category": "vegetables", "unit": "kg",
                "unit_price_cents": 450, "quality_grade": "A", "certifications": ["organic"],
                "low_stock_threshold": 5, "initial_quantity": 20,
            }),
        ),
        201,
    )
    item_id = item.id
    received = accepted(
        receive_stock.sync_detailed(
            item_id, client=farmer, body=ReceiveStockRequest.from_dict({"quantity": 5})
        ),
        200,
    )
    assert received.version == 2, received
    order = accepted(
        place_order.sync_detailed(
            client=restaurant,
            body=PlaceOrderRequest.from_dict({
                "farmer_id": "farmer-ana",
                "lines": [{"stock_item_id": str(item.id), "quantity": 4}],
                "delivery_address": {"line1": "12 Market Street", "city": "Paris",
                                     "postal_code": "75011", "country": "FR"},
            }),
        ),
        201,
    )
    cancel = CancelOrderRequest.from_dict({"reason": "The menu changed"})
    accepted(cancel_order.sync_detailed(order.id, client=restaurant, body=cancel), 200)

    # Cancelling twice breaks a rule of the order's state: 409, as a Problem.
    conflict = refused(
        cancel_order.sync_detailed(order.id, client=restaurant, body=cancel), 409
    )
    assert conflict.status == 409 and conflict.title, conflict
    # A quantity of 0 is invalid input: 400, as a Problem naming the field.
    invalid = refused(
        receive_stock.sync_detailed(
            item_id, client=farmer, body=ReceiveStockRequest.from_dict({"quantity": 0})
        ),
        400,
    )
    fields = [error.field for error in invalid.errors]
    assert "quantity" in fields, invalid
    print(f"generated client: stock item {item.id} registered and received, order {order.id} "
          f"placed and cancelled; 409 `{conflict.title}` and 400 on {fields} as Problem")


if __name__ == "__main__":
    main()
