using System.Runtime.CompilerServices;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture.Iwarp;

/// <summary>
/// The message of a finding, formatted only when the finding will be listed: a flow that repeats one problem on
/// every FPDU (a bad CRC, a wrong MSN) costs a counter increment per FPDU, not a string.
/// </summary>
[InterpolatedStringHandler]
internal ref struct FindingMessage
{
    private DefaultInterpolatedStringHandler _text;

    public FindingMessage(int literalLength, int formattedCount, IwarpFlowDecoder flow, FindingRule rule, out bool admitted)
    {
        Admitted = admitted = flow.Admit(rule);
        _text = admitted ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    /// <summary>False when the finding is only counted.</summary>
    public bool Admitted { get; }

    public void AppendLiteral(string value) => _text.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _text.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _text.AppendFormatted(value, format);

    public void AppendFormatted(string? value) => _text.AppendFormatted(value);

    public string ToStringAndClear() => _text.ToStringAndClear();
}
