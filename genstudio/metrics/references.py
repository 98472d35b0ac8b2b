"""Published likelihoods to show beside a run's own (the Evaluate tab), each with the protocol
it was measured under and the training budget behind it, so that a person sees how far a
10-minute model is from the paper and does not compare figures measured differently.

``PUBLISHED[family]`` lists references, the closest in protocol first. ``value`` is in
``unit``: ``nats`` (mean log-likelihood per test example, so negative) or ``bits/dim``
(negative log-likelihood).
"""

from __future__ import annotations

from typing import Any

PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "vae": [
        {
            "value": -86.76,
            "unit": "nats",
            "source": "Burda, Grosse and Salakhutdinov 2016, table 1 (VAE, one stochastic layer)",
            "protocol": "MNIST, dynamically binarised; importance-weighted bound with K = 5000",
            "budget": "60,000 training images, 3,280 passes",
        },
        {
            "value": -82.90,
            "unit": "nats",
            "source": "Burda, Grosse and Salakhutdinov 2016, table 1 (IWAE, two stochastic layers, K = 50)",
            "protocol": "MNIST, dynamically binarised; importance-weighted bound with K = 5000",
            "budget": "60,000 training images, 3,280 passes",
        },
    ],
    "rbm": [
        {
            "value": -86.34,
            "unit": "nats",
            "source": "Salakhutdinov and Murray 2008, table 1 (500 hidden units, CD-25)",
            "protocol": "MNIST, stochastically binarised; AIS with 14,500 temperatures, 100 runs",
            "budget": "60,000 training images, CD-25, a decaying learning rate over hundreds of passes",
        }
    ],
    "flow": [
        {
            "value": 1.06,
            "unit": "bits/dim",
            "source": "RealNVP (Dinh et al. 2017), as reported by Grathwohl et al. 2019, table 2",
            "protocol": "MNIST, uniformly dequantised 256 levels; exact likelihood",
            "budget": "60,000 training images; a multi-scale flow trained for days on GPUs",
        },
        {
            "value": 1.05,
            "unit": "bits/dim",
            "source": "Glow (Kingma and Dhariwal 2018), as reported by Grathwohl et al. 2019, table 2",
            "protocol": "MNIST, uniformly dequantised 256 levels; exact likelihood",
            "budget": "60,000 training images; a multi-scale flow trained for days on GPUs",
        },
    ],
    "diffusion": [
        {
            "value": 3.75,
            "unit": "bits/dim",
            "source": "Ho, Jain and Abbeel 2020, table 2 (trained on L_simple)",
            "protocol": "CIFAR-10 test set (no MNIST figure published), 256 levels; variational bound, T = 1000",
            "budget": "50,000 training images, 800,000 steps of batch 128 on a TPU v3-8",
        }
    ],
}


def published(family: str) -> list[dict[str, Any]]:
    """The published references for ``family`` (empty when there is none)."""
    return PUBLISHED.get(family, [])


def describe(ref: dict[str, Any]) -> str:
    """One reference in a line: ``-86.76 nats (Burda, ... table 1)``."""
    return f"{ref['value']:g} {ref['unit']} ({ref['source']})"
