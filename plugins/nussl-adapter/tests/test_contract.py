from separena.testing import parametrize_with_checks

test_contract = parametrize_with_checks([
    "nussl-mask-inference", "nussl-dpcl", "nussl-chimera", "nussl-open-unmix-like", "nussl-end-to-end",
    "nussl-dual-path", "nussl-hpss", "nussl-repet-sim", "nussl-rpca", "nussl-timbre-clustering"])
