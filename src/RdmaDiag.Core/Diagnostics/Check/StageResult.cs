namespace RdmaDiag.Diagnostics.Check;

public enum StageStatus : byte
{
    Ok,
    Failed,

    /// <summary>Not run: an earlier stage failed, or there was nothing to do (e.g. no size for it).</summary>
    Skipped,
}

/// <summary>The stages of a check, in the order they run. The names are stable (JSON "name").</summary>
public static class StageNames
{
    public const string Resolve = "resolve";
    public const string Route = "route";
    public const string TcpConnect = "tcp-connect";
    public const string MpaExchange = "mpa-exchange";
    public const string RdmaOps = "rdma-ops";
    public const string LargeMessages = "large-messages";
    public const string Teardown = "teardown";

    public static IReadOnlyList<string> All { get; } = [Resolve, Route, TcpConnect, MpaExchange, RdmaOps, LargeMessages, Teardown];
}

/// <summary>One stage: how it ended, how long it took, the timeout it had, and what it saw.</summary>
public sealed record StageResult(string Name, StageStatus Status, TimeSpan Elapsed, TimeSpan Timeout, IReadOnlyList<string> Evidence)
{
    public string StatusName => Status switch
    {
        StageStatus.Ok => "ok",
        StageStatus.Failed => "failed",
        _ => "skipped",
    };
}
