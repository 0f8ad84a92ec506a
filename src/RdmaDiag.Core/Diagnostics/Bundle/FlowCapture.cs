using System.Net;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Check;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>
/// Writes the check's flow to a pcapng while the check runs: the same filter the check's own capture uses
/// (the server's address and port, plus ICMP errors), on every interface, from a reader thread.
/// </summary>
internal sealed class FlowCapture : IDisposable
{
    private readonly LiveCapture _capture;
    private readonly PcapNgWriter _writer;
    private readonly Thread _reader;
    private Exception? _failure;

    private FlowCapture(LiveCapture capture, PcapNgWriter writer, string filter)
    {
        _capture = capture;
        _writer = writer;
        int interfaceId = writer.AddInterface(capture.LinkType, capture.Options.SnapLength, CheckCapture.Interface, filter);
        _reader = new Thread(() => Read(interfaceId)) { IsBackground = true, Name = "bundle-capture" };
        _reader.Start();
    }

    /// <summary>Starts capturing to <paramref name="path"/>; null and the reason when libpcap is missing or capture is not permitted.</summary>
    public static FlowCapture? TryStart(IPEndPoint target, string path, out string? unavailable)
    {
        string filter = CheckCapture.Filter(target);
        LiveCapture capture;
        try
        {
            capture = LiveCapture.Open(new LiveCaptureOptions { Interface = CheckCapture.Interface, Filter = filter, TimeoutMilliseconds = 20 });
        }
        catch (Exception e) when (e is CaptureUnavailableException or UserInputException)
        {
            unavailable = e.Message;
            return null;
        }
        try
        {
            var writer = PcapNgWriter.Create(path, $"rdmadiag bundle: the traffic of rdmadiag check to {target}; filter: {filter}");
            unavailable = null;
            return new FlowCapture(capture, writer, filter);
        }
        catch
        {
            capture.Dispose();
            throw;
        }
    }

    private void Read(int interfaceId)
    {
        try
        {
            while (true)
            {
                switch (_capture.Read(out RawPacket packet))
                {
                    case PacketReadResult.Packet:
                        _writer.Write(interfaceId, packet.TimestampNanos, packet.OriginalLength, packet.Data);
                        break;
                    case PacketReadResult.End:
                        return;
                }
            }
        }
        catch (Exception e) when (e is CaptureUnavailableException or IOException)
        {
            _failure = e;
        }
    }

    /// <summary>
    /// Waits <paramref name="drain"/> for packets still on their way, stops, and commits the file.
    /// Returns the packet count and, when the capture failed part way, why.
    /// </summary>
    public (long Packets, long KernelDrops, string? Failure) Stop(TimeSpan drain)
    {
        Thread.Sleep(drain);
        _capture.Stop();
        _reader.Join();
        var statistics = _capture.GetStatistics();
        _writer.Commit();
        return (_writer.PacketsWritten, statistics.DroppedByKernel, _failure?.Message);
    }

    public void Dispose()
    {
        _capture.Stop();
        _reader.Join(TimeSpan.FromSeconds(2));
        _writer.Dispose();
        _capture.Dispose();
    }
}
