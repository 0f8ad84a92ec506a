namespace RdmaDiag.Diagnostics.Findings;

/// <summary>
/// A kind of finding: its stable id, its severity and the advice that goes with it. Rules are declared once
/// (see <c>RdmaDiag.Capture.CaptureRules</c>) and stamped into <see cref="Finding"/>s with <see cref="At"/>.
/// </summary>
public sealed record FindingRule(string Id, FindingSeverity Severity, string Fix)
{
    public Finding At(long? frame, int? flow, string message) => new(Id, Severity, frame, flow, message, Fix);
}
