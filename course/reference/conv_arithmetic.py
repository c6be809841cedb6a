"""Convolution arithmetic: output sizes and the cost of a convolutional layer."""

from ._args import pair


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Length of a convolution's output along one axis.

    The kernel covers ``dilation * (kernel_size - 1) + 1`` input positions; it is slid over the
    padded input in steps of ``stride``::

        out = floor((size + pad_before + pad_after - dilation * (kernel_size - 1) - 1) / stride) + 1

    Args:
        size: input length along the axis.
        kernel_size: kernel length along the axis.
        stride: step between neighbouring windows.
        padding: an int (added at both ends) or a pair ``(before, after)``.
        dilation: spacing between kernel taps.

    Raises:
        ValueError: when the dilated kernel does not fit in the padded input, or an argument is out
            of range.
    """
    before, after = pair(padding, "padding")
    if size < 1 or kernel_size < 1 or stride < 1 or dilation < 1 or before < 0 or after < 0:
        raise ValueError(
            "size, kernel_size, stride and dilation must be >= 1 and padding >= 0, got "
            f"size={size}, kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}"
        )
    span = dilation * (kernel_size - 1) + 1
    padded = size + before + after
    if span > padded:
        raise ValueError(f"a kernel spanning {span} positions does not fit in a padded input of {padded}")
    return (padded - span) // stride + 1


def conv_layer_cost(in_shape, out_channels: int, kernel_size: int, stride: int = 1, padding=0, bias: bool = True) -> dict:
    """Output shape, parameter count and forward multiplications of a square-kernel conv layer.

    Args:
        in_shape: ``(C, H, W)``.
        out_channels: number of filters ``F``.
        kernel_size: side ``K`` of the square kernel.
        stride, padding: as in :func:`conv_output_size` (the same along both axes).
        bias: whether each filter has a bias.

    Returns:
        ``{"out_shape": (F, H_out, W_out), "params": F*C*K*K (+ F), "mults": F*H_out*W_out*C*K*K}``:
        every output value is one dot product of ``C*K*K`` weights with the input window.
    """
    channels, height, width = in_shape
    out_h = conv_output_size(height, kernel_size, stride, padding)
    out_w = conv_output_size(width, kernel_size, stride, padding)
    taps = channels * kernel_size * kernel_size
    return {
        "out_shape": (out_channels, out_h, out_w),
        "params": out_channels * taps + (out_channels if bias else 0),
        "mults": out_channels * out_h * out_w * taps,
    }
