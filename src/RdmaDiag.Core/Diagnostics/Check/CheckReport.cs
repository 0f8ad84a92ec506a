using System.Net;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>The result of a check: the verdict, every stage, the MPA parameters, the operations and the capture's findings.</summary>
public sealed record CheckReport
{
    /// <summary>The HOST as the user gave it.</summary>
    public required string Host { get; init; }

    public required IPEndPoint Target { get; init; }

    public required CheckVerdict Verdict { get; init; }

    public required IReadOnlyList<StageResult> Stages { get; init; }

    /// <summary>What MPA negotiated; null when setup did not complete.</summary>
    public NegotiatedParameters? Parameters { get; init; }

    /// <summary>The MPA Request this side sent and the server's start frame when setup failed after one arrived.</summary>
    public MpaStartFrame? Request { get; init; }

    public MpaStartFrame? PeerFrame { get; init; }

    public IReadOnlyList<ProbeResult> Operations { get; init; } = [];

    public CaptureEvidence? Capture { get; init; }

    /// <summary>Why there was no capture; null when there was one.</summary>
    public string? CaptureUnavailable { get; init; }

    /// <summary>From the start of the run to the verdict.</summary>
    public TimeSpan Elapsed { get; init; }

    public IReadOnlyList<Finding> Findings => Capture?.Findings ?? [];

    public CheckCause Cause => Verdict.Cause;

    public int ExitCode => Verdict.Cause.ExitCode;

    public StageResult Stage(string name) => Stages.Single(s => s.Name == name);
}
