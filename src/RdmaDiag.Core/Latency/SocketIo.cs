using System.Diagnostics;
using System.Net.Sockets;

namespace RdmaDiag.Latency;

/// <summary>
/// Whole-message send and receive on a stream socket, blocking or spinning on a non-blocking socket.
/// Errors are IOExceptions that say which direction failed.
/// </summary>
internal static class SocketIo
{
    /// <summary>Messages above this are sent in chunks with the echo drained in between, so a large
    /// ping-pong cannot fill both directions' buffers and stall.</summary>
    internal const int BlockingChunk = 64 << 10;

    internal static void SendAll(Socket socket, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var n = socket.Send(data, SocketFlags.None, out var error);
            if (error != SocketError.Success)
            {
                throw new IOException($"send to {socket.RemoteEndPoint} failed: {error}");
            }
            data = data[n..];
        }
    }

    internal static void ReceiveExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = socket.Receive(buffer, SocketFlags.None, out var error);
            if (error == SocketError.TimedOut || error == SocketError.WouldBlock)
            {
                throw new TimeoutException($"no reply from {socket.RemoteEndPoint} within {socket.ReceiveTimeout} ms");
            }
            if (error != SocketError.Success)
            {
                throw new IOException($"receive from {socket.RemoteEndPoint} failed: {error}");
            }
            if (n == 0)
            {
                throw new IOException($"{socket.RemoteEndPoint} closed the connection");
            }
            buffer = buffer[n..];
        }
    }

    /// <summary>Sends <paramref name="send"/> and receives as many bytes into <paramref name="receive"/>
    /// on a blocking socket.</summary>
    internal static void ExchangeBlocking(Socket socket, ReadOnlySpan<byte> send, Span<byte> receive)
    {
        if (send.Length <= BlockingChunk)
        {
            SendAll(socket, send);
            ReceiveExactly(socket, receive);
            return;
        }
        var received = 0;
        while (!send.IsEmpty)
        {
            var chunk = Math.Min(send.Length, BlockingChunk);
            SendAll(socket, send[..chunk]);
            send = send[chunk..];
            var available = Math.Min(socket.Available, receive.Length - received);
            if (available > 0)
            {
                ReceiveExactly(socket, receive.Slice(received, available));
                received += available;
            }
        }
        ReceiveExactly(socket, receive[received..]);
    }

    /// <summary>The same on a non-blocking socket: never sleeps, interleaves both directions.</summary>
    internal static void ExchangeSpinning(Socket socket, ReadOnlySpan<byte> send, Span<byte> receive, long timeoutTicks)
    {
        var sent = 0;
        var received = 0;
        long deadline = 0;
        var spins = 0;
        while (received < receive.Length)
        {
            if (sent < send.Length)
            {
                var n = socket.Send(send[sent..], SocketFlags.None, out var error);
                if (error == SocketError.Success)
                {
                    sent += n;
                }
                else if (error != SocketError.WouldBlock)
                {
                    throw new IOException($"send to {socket.RemoteEndPoint} failed: {error}");
                }
            }
            var r = socket.Receive(receive[received..], SocketFlags.None, out var rerror);
            if (rerror == SocketError.Success)
            {
                if (r == 0)
                {
                    throw new IOException($"{socket.RemoteEndPoint} closed the connection");
                }
                received += r;
                continue;
            }
            if (rerror != SocketError.WouldBlock)
            {
                throw new IOException($"receive from {socket.RemoteEndPoint} failed: {rerror}");
            }
            // The clock is read only every few thousand empty polls; the deadline is for a dead peer.
            if (++spins % 4096 == 0)
            {
                var now = Stopwatch.GetTimestamp();
                if (deadline == 0)
                {
                    deadline = now + timeoutTicks;
                }
                else if (now > deadline)
                {
                    throw new TimeoutException($"no reply from {socket.RemoteEndPoint} within {timeoutTicks * 1000 / Stopwatch.Frequency} ms");
                }
            }
        }
    }
}
