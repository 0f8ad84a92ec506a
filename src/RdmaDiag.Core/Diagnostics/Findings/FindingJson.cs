using System.Text.Json;

namespace RdmaDiag.Diagnostics.Findings;

/// <summary>One JSON shape for a finding, shared by `decode --json`, `check --json` and the bundle.</summary>
public static class FindingJson
{
    /// <summary>
    /// Writes {"rule","severity","frame",["flow",]"message","fix"}; <paramref name="includeFlow"/> is false where
    /// the whole report is about one flow (check).
    /// </summary>
    public static void Write(Utf8JsonWriter w, Finding finding, bool includeFlow)
    {
        w.WriteStartObject();
        w.WriteString("rule", finding.RuleId);
        w.WriteString("severity", finding.Severity.ToString().ToLowerInvariant());
        WriteOptional(w, "frame", finding.Frame);
        if (includeFlow)
        {
            WriteOptional(w, "flow", finding.Flow);
        }
        w.WriteString("message", finding.Message);
        w.WriteString("fix", finding.Fix);
        w.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, long? value)
    {
        if (value is long v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
