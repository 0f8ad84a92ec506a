namespace RdmaDiag.Diagnostics.Findings;

/// <summary>How bad a finding is, in Wireshark expert-info terms.</summary>
public enum FindingSeverity
{
    /// <summary>Worth knowing; normal behaviour that explains something (an orderly FIN, a fragment).</summary>
    Note,
    /// <summary>Something degraded or suspicious that does not by itself break the connection.</summary>
    Warning,
    /// <summary>Something that breaks or prevents the connection.</summary>
    Error,
}

/// <summary>
/// One diagnostic observation, as data: a malformed or failing capture yields findings, never exceptions.
/// Shared by the capture reader, the TCP tracker, the MPA/DDP/RDMAP decoder and <c>check</c>.
/// </summary>
/// <param name="RuleId">Stable kebab-case id (<c>tcp-syn-unanswered</c>); scripts match on it.</param>
/// <param name="Severity">How bad it is.</param>
/// <param name="Frame">1-based frame number (as Wireshark's <c>frame.number</c>) where it was seen, or null when no single frame applies.</param>
/// <param name="Flow">0-based flow id (as Wireshark's <c>tcp.stream</c> for simple captures), or null when no flow applies.</param>
/// <param name="Message">What was seen, with the numbers.</param>
/// <param name="Fix">What to do about it.</param>
public sealed record Finding(string RuleId, FindingSeverity Severity, long? Frame, int? Flow, string Message, string Fix)
{
    /// <summary>One line for a terminal: <c>warning tcp-zero-window frame 12 flow 0: message</c>.</summary>
    public override string ToString()
    {
        var where = (Frame, Flow) switch
        {
            (long f, int s) => $" frame {f} flow {s}",
            (long f, null) => $" frame {f}",
            (null, int s) => $" flow {s}",
            _ => "",
        };
        return $"{Severity.ToString().ToLowerInvariant()} {RuleId}{where}: {Message}";
    }
}
