from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks([
    "asteroid-conv-tasnet", "asteroid-dprnn-tasnet", "asteroid-dptnet", "asteroid-lstm-tasnet",
    "asteroid-sudormrf", "asteroid-sudormrf-improved", "asteroid-dcunet", "asteroid-dccrnet"])
