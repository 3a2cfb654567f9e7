from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks(["mamba-mask-inference", "dpmamba", "spmamba"])
