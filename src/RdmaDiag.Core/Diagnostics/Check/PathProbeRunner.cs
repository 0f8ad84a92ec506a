using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Ddp;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>
/// The second connection a check opens after a stall: a 64-octet Send, then a Send that fills exactly one
/// full-size TCP segment and a Read whose response needs full-size segments back. Small passing and full
/// failing is a PMTU black hole; both passing means the first flow alone was stopped.
/// </summary>
internal static class PathProbeRunner
{
    private const int SinkSize = 64 * 1024;
    private const int SmallSize = 64;

    public static PathProbe Run(IPEndPoint target, IwarpSetupOptions setup, TimeSpan step, Func<TimeSpan, TimeSpan> bounded)
    {
        using var connection = new IwarpConnection();
        var probe = new ProbeClient(connection, step, SinkSize);
        NegotiatedParameters parameters;
        try
        {
            parameters = connection.Connect(target, setup with { ConnectTimeout = bounded(step), HandshakeTimeout = bounded(step) });
        }
        catch (IwarpException e)
        {
            return new PathProbe(PathProbeResult.ConnectFailed, 0, 0, $"{e.Kind}: {e.Message}");
        }
        // One Send FPDU of exactly MULPDU octets: untagged header, probe header, payload.
        int full = Math.Clamp(parameters.Mulpdu - DdpHeader.UntaggedLength - ProbeMessage.HeaderLength, 1, SinkSize / 2);
        string Outcome(string what, ProbeResult r) => $"{what} {(r.Verified ? "verified" : "NOT verified")} in {r.Elapsed.TotalMilliseconds:0.#} ms";
        string detail;
        try
        {
            probe.Hello();
            ProbeResult small = probe.Send(SmallSize);
            detail = Outcome($"connected (EMSS {parameters.Emss}); a {SmallSize}-octet Send", small);
            if (!small.Verified)
            {
                return new PathProbe(PathProbeResult.SmallFailed, full, parameters.Emss, detail);
            }
        }
        catch (Exception e) when (e is IwarpException or InvalidDataException)
        {
            return new PathProbe(PathProbeResult.SmallFailed, full, parameters.Emss, $"connected, but a {SmallSize}-octet Send did not come back: {Describe(connection, e)}");
        }
        foreach ((string op, int size) in (ReadOnlySpan<(string, int)>)[("send", full), ("read", 2 * full)])
        {
            try
            {
                ProbeResult r = op == "send" ? probe.Send(size) : probe.Read(size);
                detail += $"; {Outcome($"a {size}-octet {(op == "send" ? "Send (one full segment out)" : "Read (full segments back)")}", r)}";
                if (!r.Verified)
                {
                    return new PathProbe(PathProbeResult.FullSegmentFailed, full, parameters.Emss, detail);
                }
            }
            catch (Exception e) when (e is IwarpException or InvalidDataException)
            {
                detail += $"; a {size}-octet {(op == "send" ? "Send (one full segment out)" : "Read (full segments back)")} did not complete: {Describe(connection, e)}";
                return new PathProbe(PathProbeResult.FullSegmentFailed, full, parameters.Emss, detail);
            }
        }
        connection.Close();
        return new PathProbe(PathProbeResult.Passed, full, parameters.Emss, detail);
    }

    /// <summary>
    /// Why a probe call failed: the connection's own error when it has one (a ProbeClient call that meets a
    /// failed connection sees only flushed completions), else the exception's.
    /// </summary>
    internal static IwarpException? ErrorOf(IwarpConnection connection, Exception? e) =>
        connection.Error is { Kind: not IwarpErrorKind.LocalClose } failed ? failed : e as IwarpException;

    private static string Describe(IwarpConnection connection, Exception e) =>
        ErrorOf(connection, e) is { } error ? $"{error.Kind}: {error.Message}" : e.Message;
}
