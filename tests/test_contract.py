"""The contract kit over every installed architecture (timm's test_models, sklearn's check_estimator)."""

from separena import list_architectures
from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks(list_architectures())
