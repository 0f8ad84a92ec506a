using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Endpoint;

/// <summary>
/// Socket side of MPA start-up: TCP connect with a deadline, sending a start frame, and reading the
/// peer's with a deadline, keeping the evidence a failure needs.
/// </summary>
/// <remarks>
/// Every call here is synchronous on a blocking socket, deadlines through SO_SNDTIMEO/SO_RCVTIMEO:
/// one asynchronous operation would switch the descriptor to non-blocking for good, and .NET then
/// routes later synchronous calls through its epoll thread, which doubles a loopback round trip.
/// </remarks>
internal static class MpaHandshake
{
    private const int EvidenceLength = 64;

    public static Socket CreateSocket(AddressFamily family)
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        return socket;
    }

    public static IPEndPoint Resolve(EndPoint remote)
    {
        switch (remote)
        {
            case IPEndPoint ip:
                return ip;
            case DnsEndPoint dns:
                IPAddress[] addresses;
                try
                {
                    addresses = Dns.GetHostAddresses(dns.Host);
                }
                catch (SocketException e)
                {
                    throw IwarpException.FromSocket(e, ConnectionPhase.TcpConnect, remote, $"resolving {dns.Host}");
                }
                IPAddress? address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
                return address is null
                    ? throw new IwarpException(IwarpErrorKind.TcpUnreachable, ConnectionPhase.TcpConnect, $"{dns.Host} has no address") { RemoteEndPoint = remote }
                    : new IPEndPoint(address, dns.Port);
            default:
                throw new ArgumentException($"unsupported endpoint type {remote.GetType().Name}", nameof(remote));
        }
    }

    /// <summary>Blocking connect bounded by <paramref name="timeout"/> (Linux honours SO_SNDTIMEO in connect).</summary>
    public static void Connect(Socket socket, IPEndPoint remote, TimeSpan timeout)
    {
        socket.SendTimeout = ToMilliseconds(timeout);
        try
        {
            socket.Connect(remote);
        }
        catch (SocketException e)
        {
            var error = IwarpException.FromSocket(e, ConnectionPhase.TcpConnect, remote, $"TCP connect to {remote}");
            if (error.Kind == IwarpErrorKind.TcpTimeout)
            {
                throw new IwarpException(IwarpErrorKind.TcpTimeout, ConnectionPhase.TcpConnect,
                    $"TCP connect to {remote}: no answer to SYN within {timeout.TotalSeconds:0.###} s", e)
                { RemoteEndPoint = remote, SocketError = e.SocketErrorCode, Waited = timeout };
            }
            throw error;
        }
        finally
        {
            if (socket.Connected)
            {
                socket.SendTimeout = 0;
            }
        }
    }

    public static void SendFrame(Socket socket, in MpaStartFrame frame, ConnectionPhase phase = ConnectionPhase.MpaHandshake)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(frame.EncodedLength);
        try
        {
            int length = frame.Write(buffer);
            SendAll(socket, buffer.AsSpan(0, length), phase, "sending the MPA " + (frame.IsReply ? "Reply" : "Request"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public static void SendAll(Socket socket, ReadOnlySpan<byte> data, ConnectionPhase phase, string doing)
    {
        try
        {
            while (!data.IsEmpty)
            {
                data = data[socket.Send(data, SocketFlags.None)..];
            }
        }
        catch (SocketException e)
        {
            throw IwarpException.FromSocket(e, phase, SafeRemote(socket), doing);
        }
    }

    /// <summary>
    /// Reads exactly one start frame: the 20-octet header, then PD_Length octets (checked against
    /// <paramref name="limits"/> before waiting for them). Any octet already queued behind the frame is
    /// a protocol error, as siw and cxgb4 treat it: the peer may not send FPDUs yet.
    /// </summary>
    public static MpaStartFrame ReceiveFrame(Socket socket, MpaLimits limits, TimeSpan timeout, string expected)
    {
        EndPoint? remote = SafeRemote(socket);
        byte[] buffer = new byte[MpaStartFrame.HeaderLength + limits.MaxPrivateDataLength + EvidenceLength];
        int have = 0;
        long start = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                OperationStatus status = MpaStartFrame.TryRead(buffer.AsSpan(0, have), limits, out MpaStartFrame frame, out int consumed, out WireError error);
                if (status == OperationStatus.Done)
                {
                    CheckNothingFollows(socket, buffer, consumed, frame, remote);
                    return frame;
                }
                if (status == OperationStatus.InvalidData)
                {
                    have += ReadAvailable(socket, buffer.AsSpan(have, Math.Max(0, Math.Min(EvidenceLength, buffer.Length) - have)));
                    throw Invalid(error, buffer.AsSpan(0, have), expected, remote);
                }

                int want = have < MpaStartFrame.HeaderLength
                    ? MpaStartFrame.HeaderLength
                    : MpaStartFrame.HeaderLength + System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(18));
                TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    throw Timeout(buffer.AsSpan(0, have), expected, timeout, remote);
                }
                socket.ReceiveTimeout = ToMilliseconds(left);
                int n;
                try
                {
                    n = socket.Receive(buffer, have, want - have, SocketFlags.None);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
                {
                    throw Timeout(buffer.AsSpan(0, have), expected, timeout, remote);
                }
                catch (SocketException e)
                {
                    throw IwarpException.FromSocket(e, ConnectionPhase.MpaHandshake, remote, $"waiting for the MPA {expected} ({have} octets received)", have);
                }
                if (n == 0)
                {
                    throw new IwarpException(IwarpErrorKind.ConnectionClosed, ConnectionPhase.MpaHandshake,
                        $"the peer closed the TCP connection before its MPA {expected} was complete ({have} octets received: {IwarpException.FormatBytes(buffer.AsSpan(0, Math.Min(have, EvidenceLength)))})")
                    {
                        DetectedBy = ErrorSource.Peer,
                        RemoteEndPoint = remote,
                        BytesReceived = have,
                        FirstBytes = buffer.AsSpan(0, Math.Min(have, EvidenceLength)).ToArray(),
                    };
                }
                have += n;
            }
        }
        finally
        {
            if (!socket.SafeHandle.IsClosed)
            {
                socket.ReceiveTimeout = 0;
            }
        }
    }

    private static void CheckNothingFollows(Socket socket, byte[] buffer, int frameLength, in MpaStartFrame frame, EndPoint? remote)
    {
        int extra = ReadAvailable(socket, buffer.AsSpan(frameLength, Math.Min(EvidenceLength, buffer.Length - frameLength)));
        if (extra > 0)
        {
            throw new IwarpException(IwarpErrorKind.MalformedStartFrame, ConnectionPhase.MpaHandshake,
                $"{extra} octet(s) followed the MPA {(frame.IsReply ? "Reply" : "Request")} before any FPDU was allowed: {IwarpException.FormatBytes(buffer.AsSpan(frameLength, extra))}")
            {
                DetectedBy = ErrorSource.Peer,
                RemoteEndPoint = remote,
                PeerFrame = frame,
                BytesReceived = frameLength + extra,
                FirstBytes = buffer.AsSpan(frameLength, extra).ToArray(),
            };
        }
    }

    private static int ReadAvailable(Socket socket, Span<byte> destination)
    {
        try
        {
            int available = socket.Available;
            return available == 0 || destination.IsEmpty ? 0 : socket.Receive(destination[..Math.Min(available, destination.Length)], SocketFlags.None);
        }
        catch (SocketException)
        {
            return 0;
        }
    }

    private static IwarpException Invalid(in WireError error, ReadOnlySpan<byte> received, string expected, EndPoint? remote)
    {
        IwarpErrorKind kind = error.Kind switch
        {
            WireErrorKind.MpaKey => IwarpErrorKind.NotMpa,
            WireErrorKind.MpaRevision => IwarpErrorKind.RevisionIncompatible,
            _ => IwarpErrorKind.MalformedStartFrame,
        };
        ReadOnlySpan<byte> evidence = received[..Math.Min(received.Length, EvidenceLength)];
        string message = kind == IwarpErrorKind.NotMpa
            ? $"expected an MPA {expected}, received bytes of another protocol: {IwarpException.FormatBytes(evidence)}"
            : $"invalid MPA {expected}: {error.Message}";
        return new IwarpException(kind, ConnectionPhase.MpaHandshake, message)
        {
            DetectedBy = ErrorSource.Peer,
            RemoteEndPoint = remote,
            BytesReceived = received.Length,
            FirstBytes = evidence.ToArray(),
            WireError = error,
        };
    }

    private static IwarpException Timeout(ReadOnlySpan<byte> received, string expected, TimeSpan timeout, EndPoint? remote)
    {
        ReadOnlySpan<byte> evidence = received[..Math.Min(received.Length, EvidenceLength)];
        return new IwarpException(IwarpErrorKind.HandshakeTimeout, ConnectionPhase.MpaHandshake,
            $"no complete MPA {expected} within {timeout.TotalSeconds:0.###} s; {received.Length} octet(s) received{(received.IsEmpty ? "" : ": " + IwarpException.FormatBytes(evidence))}")
        {
            DetectedBy = ErrorSource.Peer,
            RemoteEndPoint = remote,
            BytesReceived = received.Length,
            FirstBytes = evidence.ToArray(),
            Waited = timeout,
        };
    }

    public static int ToMilliseconds(TimeSpan timeout) => (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, int.MaxValue);

    public static EndPoint? SafeRemote(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }
}
