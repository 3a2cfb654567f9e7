from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks(["oracle-ibm", "oracle-irm", "oracle-wiener", "oracle-psm", "mixture"])
