"""The local stack: ``Stack`` (stack.py) starts and stops every service, one module a service."""

from devstack.stack.config import StackError
from devstack.stack.stack import Stack

__all__ = ["Stack", "StackError"]
