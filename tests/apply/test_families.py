"""Every built-in image family gets a restoration solver and anomaly scores by its capabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.apply.anomaly import anomaly_scores, available_scores
from genstudio.apply.operators import make_operator
from genstudio.apply.restore import restore
from genstudio.apply.solvers import solvers_for
from genstudio.runs.inference import load_model
from genstudio.testing import make_host, train

EXPECTED = {
    # family: (solvers for a mask, the default anomaly score, every anomaly score)
    "diffusion": (["repaint", "ddrm"], "log_prob", ["log_prob", "bpd"]),
    "vae": (["latent", "gradient", "reconstruct"], "log_prob", ["log_prob", "bpd", "reconstruction"]),
    "flow": (["latent", "gradient"], "log_prob", ["log_prob", "bpd"]),
    "gan": (["latent"], "discriminator", ["discriminator"]),
    "rbm": (["gibbs", "reconstruct"], "log_prob", ["log_prob", "bpd", "reconstruction"]),
}
CONFIGS = {"rbm": {"hidden": 16}, "diffusion": {"width": 8, "sample_steps": 5}}


@pytest.mark.parametrize("family", list(EXPECTED))
def test_solvers_and_scores_follow_capabilities(family, tmp_path):
    from genstudio.runs.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    host = make_host(ws.root)
    trainer, events = train(host, ws, family, "tiny", data_options={"size": 12}, steps=3, batch_size=16,
                            config=CONFIGS.get(family))  # fmt: skip
    assert events[-1].type == "finished", events[-1]
    model = load_model(host, ws, trainer.run.id).model
    mask = make_operator("inpaint", (1, 12, 12), box=(3, 3, 6, 6))
    solvers, default, scores = EXPECTED[family]
    assert [s.name for s in solvers_for(model, mask)] == solvers
    y = mask.damage(torch.rand(2, 1, 12, 12))
    out = restore(model, mask, y, steps=3, n=2)
    assert out.restored.shape == (2, 2, 1, 12, 12) and np.isfinite(out.restored).all()
    # the observed pixels are kept exactly
    m = mask.observed(y).numpy().astype(bool)
    np.testing.assert_allclose(out.restored[0][m], y.numpy()[m], atol=1e-6)
    assert available_scores(model) == scores
    if default is not None:
        data = trainer.dataset
        s = anomaly_scores(model, data, default)
        assert s.shape == (len(data),) and np.isfinite(s).all()
