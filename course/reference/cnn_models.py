"""The CNNs of hw2_cnn section 5 and the two training helpers students write."""

from torch import nn


def build_table_net() -> nn.Sequential:
    """The network of the section-5 table, for (N, 3, 32, 32) inputs.

    CONV3-10 (padding 1) -> ReLU -> POOL-2 -> CONV3-20 (stride 3, padding 2) -> ReLU -> POOL-2 ->
    FLATTEN -> FC-10. Shapes: 10x32x32 -> 10x16x16 -> 20x6x6 -> 20x3x3 -> 180 -> 10.
    """
    return nn.Sequential(
        nn.Conv2d(3, 10, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(10, 20, kernel_size=3, stride=3, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(20 * 3 * 3, 10),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))  # (N, out_channels, H, W)


class ConvNet(nn.Module):
    """A small residual CNN for 32x32 images (above 75 % on CIFAR-10 after ~15 epochs).

    conv-BN-ReLU stem (32) -> max pool -> residual block (64) -> max pool -> residual block (128) ->
    max pool -> global average pool -> FC head. Pooling early keeps it cheap enough for a CPU.
    Maps (N, in_channels, 32, 32) to logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            ResidualBlock(32, 64),
            nn.MaxPool2d(2),
            ResidualBlock(64, 128),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.head(self.features(x))  # (N, num_classes)


def get_loss_and_correct(model, batch, criterion, device):
    """Loss of ``model`` on ``batch = (images, labels)`` and how many predictions are right.

    Returns ``(loss, n_correct)``: the criterion's scalar tensor, still attached to the graph, and
    a Python int.
    """
    images, labels = batch
    images, labels = images.to(device), labels.to(device)
    logits = model(images)  # (N, classes)
    loss = criterion(logits, labels)
    n_correct = int((logits.argmax(dim=1) == labels).sum().item())
    return loss, n_correct


def step(loss, optimizer) -> None:
    """One optimisation step on ``loss``; clears the gradients first so none are stale."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
