from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks([
    "speechbrain-sepformer", "speechbrain-resepformer", "speechbrain-skim", "speechbrain-conv-tasnet",
    "speechbrain-dprnn"])
