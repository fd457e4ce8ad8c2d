"""A small shop repository whose right answers are known, for the context tests.

Topics are kept apart on purpose (cart, pricing, checkout, notifications, search, auth) and
the files reference each other the way real code does, so both the lexical and the graph
signals have something to find. Five languages, so every grammar wheel is exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import git

FILES: dict[str, str] = {
    "README.md": "# Shop\n\nA tiny shop: carts, pricing, checkout, receipts.\n",
    "shop/__init__.py": '"""The shop package."""\n',
    "shop/cart.py": '''"""Shopping carts."""

from dataclasses import dataclass, field


@dataclass
class LineItem:
    sku: str
    quantity: int
    unit_price: float


@dataclass
class Cart:
    items: list[LineItem] = field(default_factory=list)

    def add_item(self, sku: str, quantity: int, unit_price: float) -> None:
        """Add a line item to the cart."""
        self.items.append(LineItem(sku, quantity, unit_price))

    def remove_item(self, sku: str) -> None:
        self.items = [i for i in self.items if i.sku != sku]

    def subtotal(self) -> float:
        return sum(i.quantity * i.unit_price for i in self.items)
''',
    "shop/pricing.py": '''"""Prices: discount codes and tax."""

TAX_RATE = 0.2
DISCOUNT_CODES = {"SPRING10": 0.10, "VIP25": 0.25}


def apply_discount(amount: float, code: str | None) -> float:
    """Reduce the amount by the discount code's percentage."""
    if code is None:
        return amount
    rate = DISCOUNT_CODES.get(code.upper(), 0.0)
    return amount * (1.0 - rate)


def price_with_tax(amount: float) -> float:
    return round(amount * (1.0 + TAX_RATE), 2)
''',
    "shop/checkout.py": '''"""Checkout: turn a cart into a paid order."""

from shop.cart import Cart
from shop.pricing import apply_discount, price_with_tax
from notify.email import send_receipt


def checkout(cart: Cart, customer_email: str, code: str | None = None) -> float:
    """Charge the customer for the cart and email a receipt."""
    total = price_with_tax(apply_discount(cart.subtotal(), code))
    send_receipt(customer_email, total)
    return total
''',
    "notify/__init__.py": "",
    "notify/email.py": '''"""Email notifications over SMTP."""

import smtplib


def send_receipt(address: str, total: float) -> None:
    """Email the receipt for an order."""
    with smtplib.SMTP("localhost") as smtp:
        smtp.sendmail("shop@example.com", [address], f"Total: {total}")
''',
    "notify/sms.py": '''"""Text messages through the SMS gateway."""


def send_sms(phone_number: str, body: str) -> None:
    """Queue a text message for the gateway."""
    print("sms", phone_number, body)
''',
    "auth/sessions.py": '''"""Login sessions and password hashing."""

import hashlib


def hash_password(password: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000).hex()


class SessionStore:
    def login(self, user: str, password: str) -> str:
        """Create a session token for the user."""
        return hash_password(password, user.encode())[:32]
''',
    "web/api.ts": """// Client calls to the shop API.
export interface CartResponse {
  items: { sku: string; quantity: number }[];
  subtotal: number;
}

export async function fetchCart(sessionToken: string): Promise<CartResponse> {
  const res = await fetch("/api/cart", { headers: { authorization: sessionToken } });
  return res.json();
}
""",
    "web/search.js": """// Product search box.
class SearchBox {
  constructor(input) { this.input = input; }
  query() { return fetch("/api/search?q=" + encodeURIComponent(this.input.value)); }
}

function highlightMatches(text, words) {
  return words.reduce((t, w) => t.replaceAll(w, "<mark>" + w + "</mark>"), text);
}
""",
    "server/orders.go": """package server

// Order is a paid checkout as the warehouse sees it.
type Order struct {
\tID    string
\tTotal float64
}

// HandleOrder stores an order sent by the checkout.
func HandleOrder(o Order) error {
\treturn nil
}
""",
    "engine/inventory.rs": """/// Stock levels per SKU.
pub struct Inventory {
    levels: std::collections::HashMap<String, u32>,
}

impl Inventory {
    /// Reserve stock for an order; false when there is not enough.
    pub fn reserve_stock(&mut self, sku: &str, quantity: u32) -> bool {
        match self.levels.get_mut(sku) {
            Some(level) if *level >= quantity => { *level -= quantity; true }
            _ => false,
        }
    }
}
""",
    "tests/test_cart.py": """from shop.cart import Cart


def test_add_item_updates_subtotal():
    cart = Cart()
    cart.add_item("apple", 2, 0.5)
    assert cart.subtotal() == 1.0
""",
    "tests/test_pricing.py": """from shop.pricing import apply_discount


def test_discount_code():
    assert apply_discount(100.0, "SPRING10") == 90.0
""",
}


def make_shop(path: Path) -> Path:
    """Create and commit the shop repository at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in FILES.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "shop")
    return path


def digest(index: Any, tasks: list[str]) -> dict[str, Any]:
    """Everything an index answers, as plain data: two builds agree iff these are equal.

    Term and identifier numbers are left out (they depend on the order work was done in);
    what each term and name leads to is kept.
    """
    from gitfleet.context import loop

    def postings(bm25: Any) -> dict[str, list[tuple[int, float]]]:
        out = {}
        for term, t in bm25.vocab.items():
            lo, hi = int(bm25.indptr[t]), int(bm25.indptr[t + 1])
            docs = bm25.indices[lo:hi].tolist()
            weights = [round(float(w), 6) for w in bm25.data[lo:hi]]
            out[term] = sorted(zip(docs, weights, strict=True))
        return out

    g = index.graph
    return {
        "paths": index.paths,
        "defs": [[list(d) for d in index.defs[i]] for i in range(len(index))],
        "definers": {n: index.definers.get(n) for n in sorted(index.definers.names())},
        "content": postings(index.content),
        "path_index": postings(index.path_index),
        "edges": sorted(
            zip(g.src.tolist(), g.dst.tolist(), [round(float(w), 9) for w in g.weight], strict=True)
        ),
        "rankings": {
            task: [(s.path, s.score) for s in loop.run(index, task).files] for task in tasks
        },
    }


# A recorded reranking case for the shop: the task, and Claude's two answers (needs, then
# the judgement of the candidates) as their JSON text. The task's words ("text message")
# point the offline scorer at notify/sms.py; logging in lives in auth/sessions.py, which the
# offline scorer does not find at all. Claude's needs name the auth module, which brings it
# among the candidates, and its judgement puts it first.
RECORDED_TASK = "let customers log in with a one-time code sent by text message"
RECORDED_NEEDS = {
    "keywords": ["login", "session", "one-time code", "sms"],
    "identifiers": ["hash_password", "send_sms"],
    "path_globs": ["auth/*.py"],
    "questions": ["Where are login sessions created?"],
}
RECORDED_RERANK = {
    "files": [
        {
            "path": "auth/sessions.py",
            "score": 0.92,
            "reason": "login sessions live here; the one-time code check belongs beside them",
        },
        {"path": "notify/sms.py", "score": 0.81, "reason": "send_sms delivers the code"},
        {"path": "shop/checkout.py", "score": 0.12, "reason": "checkout, not login"},
        {"path": "shop/pricing.py", "score": 0.05, "reason": "discount codes, not login codes"},
    ],
    "missing": [],
}
