"""A frozen classifier's logits divided by a temperature (Guo et al., 2017): above 1 its probabilities soften, its
losses on the images it fits rise and on the ones it gets wrong fall; the predictions stay the same."""

from __future__ import annotations

from torch import nn


class Tempered(nn.Module):
    def __init__(self, classifier: nn.Module, temperature: float):
        super().__init__()
        self.classifier, self.temperature = classifier, temperature
        self.train(classifier.training)  # a frozen classifier stays in eval mode

    def forward(self, images):
        return self.classifier(images) / self.temperature
