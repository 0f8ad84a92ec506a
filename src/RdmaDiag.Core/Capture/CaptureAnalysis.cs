using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>Runs a packet source through a <see cref="TcpTracker"/> from first packet to last.</summary>
public static class CaptureAnalysis
{
    /// <summary>
    /// Reads every packet of <paramref name="source"/> into a new tracker, completes it and returns it
    /// (flows, counters). Findings from the reader and the tracker go to <paramref name="findings"/> in order.
    /// </summary>
    public static TcpTracker Run(IPacketSource source, IFindingSink findings, IStreamConsumerFactory? consumers = null, TcpTrackerOptions? options = null)
    {
        var tracker = new TcpTracker(findings, consumers, options);
        while (source.Read(out var packet) == PacketReadResult.Packet)
        {
            tracker.Process(packet);
        }
        tracker.Complete();
        return tracker;
    }

    /// <summary>Opens <paramref name="path"/> (pcap or pcapng) and runs it; see <see cref="CaptureFile.Open(string, IFindingSink)"/> for the errors.</summary>
    public static TcpTracker RunFile(string path, IFindingSink findings, IStreamConsumerFactory? consumers = null, TcpTrackerOptions? options = null)
    {
        using var source = CaptureFile.Open(path, findings);
        return Run(source, findings, consumers, options);
    }
}
