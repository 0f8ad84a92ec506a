using System.Globalization;
using System.Xml;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>
/// A self-contained SVG of one or more latency series: a histogram (share of samples per log-spaced
/// bin) above a CDF, both on one logarithmic latency axis, series overlaid in distinct colours with a
/// legend that carries p50/p99/p99.9. Built from each series' <see cref="LatencyHistogram"/>, so long
/// runs plot the same way as short ones.
/// </summary>
internal static class LatencySvg
{
    private const double Width = 1000;
    private const double Height = 800;
    private const double PlotLeft = 80;
    private const double PlotRight = 700;
    private const double LegendLeft = 730;
    private const double HistTop = 100;
    private const double HistBottom = 370;
    private const double CdfTop = 450;
    private const double CdfBottom = 730;
    private const string Font = "DejaVu Sans, Helvetica, Arial, sans-serif";

    private static readonly string[] Palette =
        ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

    public static void Write(Stream stream, string title, string subtitle, IReadOnlyList<LatencySeries> series)
    {
        using var xml = XmlWriter.Create(stream, new XmlWriterSettings { Indent = true, CloseOutput = false });
        var plotted = series.Where(s => s.Recorder.Count > 0).ToList();
        var (lo, hi) = Domain(plotted);
        var axis = new LogAxis(lo, hi, PlotLeft, PlotRight);

        xml.WriteStartElement("svg", "http://www.w3.org/2000/svg");
        Attr(xml, "width", Width);
        Attr(xml, "height", Height);
        xml.WriteAttributeString("viewBox", $"0 0 {N(Width)} {N(Height)}");
        xml.WriteAttributeString("font-family", Font);
        xml.WriteElementString("title", title);
        Rect(xml, 0, 0, Width, Height, "#ffffff", null);
        Text(xml, PlotLeft, 34, title, 20, "start", "#222", "bold");
        Text(xml, PlotLeft, 58, subtitle, 12, "start", "#555");

        var histograms = plotted.Select(s => Bin(s.Recorder.Histogram, axis)).ToList();
        var yMax = NiceCeiling(Math.Max(1, histograms.SelectMany(h => h).DefaultIfEmpty(0).Max()));
        Panel(xml, axis, HistTop, HistBottom, yMax, "share of samples per bin (%)", "latency histogram");
        Panel(xml, axis, CdfTop, CdfBottom, 100, "cumulative share (%)", "CDF");

        for (var i = 0; i < plotted.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            xml.WriteStartElement("g");
            xml.WriteAttributeString("class", "series");
            xml.WriteAttributeString("data-label", plotted[i].Label);
            HistogramPath(xml, axis, histograms[i], yMax, color);
            CdfPath(xml, axis, plotted[i].Recorder.Histogram, color);
            xml.WriteEndElement();
        }
        Legend(xml, series);
        xml.WriteEndElement();
    }

    /// <summary>Nice 1-2-5 bounds around every plotted value.</summary>
    private static (double Lo, double Hi) Domain(IReadOnlyList<LatencySeries> series)
    {
        if (series.Count == 0)
        {
            return (100, 100_000);
        }
        var min = Math.Max(1, series.Min(s => s.Recorder.Histogram.Min));
        var max = Math.Max(min + 1, series.Max(s => s.Recorder.Histogram.Max));
        var lo = NiceFloor(min);
        var hi = NiceCeiling(max);
        if (hi / lo < 4)
        {
            lo = NiceFloor(lo * 0.99);
            hi = NiceCeiling(hi * 1.01);
        }
        return (lo, hi);
    }

    private static double[] Bin(LatencyHistogram histogram, LogAxis axis)
    {
        var bins = new double[axis.Bins];
        foreach (var bucket in histogram.Buckets())
        {
            bins[axis.BinOf(Math.Max(1, bucket.Midpoint))] += bucket.Count;
        }
        for (var i = 0; i < bins.Length; i++)
        {
            bins[i] = 100.0 * bins[i] / histogram.TotalCount;
        }
        return bins;
    }

    private static void Panel(XmlWriter xml, LogAxis axis, double top, double bottom, double yMax, string yTitle, string name)
    {
        xml.WriteStartElement("g");
        xml.WriteAttributeString("class", "panel");
        xml.WriteAttributeString("data-panel", name);
        Rect(xml, PlotLeft, top, PlotRight - PlotLeft, bottom - top, "#fbfbfb", "#999");
        foreach (var (value, major) in axis.Ticks())
        {
            var x = axis.X(value);
            Line(xml, x, top, x, bottom, major ? "#d0d0d0" : "#ececec", major ? 1 : 0.7);
            if (major)
            {
                Line(xml, x, bottom, x, bottom + 5, "#666", 1);
                Text(xml, x, bottom + 19, FormatMicros(value), 11, "middle", "#333");
            }
        }
        // yMax is 1, 2 or 5 times a power of ten: fifths or quarters give round labels.
        var divisions = yMax / Math.Pow(10, Math.Floor(Math.Log10(yMax))) is > 1.5 and < 2.5 ? 4 : 5;
        for (var k = 0; k <= divisions; k++)
        {
            var v = yMax * k / divisions;
            var y = bottom - (bottom - top) * k / divisions;
            if (k > 0)
            {
                Line(xml, PlotLeft, y, PlotRight, y, "#e4e4e4", 1);
            }
            Text(xml, PlotLeft - 8, y + 4, v.ToString("0.##", CultureInfo.InvariantCulture), 11, "end", "#333");
        }
        Text(xml, (PlotLeft + PlotRight) / 2, bottom + 40, "latency (µs, log scale)", 12, "middle", "#222");
        xml.WriteStartElement("text");
        Attr(xml, "x", 0);
        Attr(xml, "y", 0);
        xml.WriteAttributeString("transform", $"translate({N(PlotLeft - 48)},{N((top + bottom) / 2)}) rotate(-90)");
        xml.WriteAttributeString("font-size", "12");
        xml.WriteAttributeString("text-anchor", "middle");
        xml.WriteAttributeString("fill", "#222");
        xml.WriteString(yTitle);
        xml.WriteEndElement();
        Text(xml, PlotLeft, top - 10, name, 13, "start", "#444", "bold");
        xml.WriteEndElement();
    }

    private static void HistogramPath(XmlWriter xml, LogAxis axis, double[] bins, double yMax, string color)
    {
        double Y(double share) => HistBottom - (HistBottom - HistTop) * Math.Min(share, yMax) / yMax;
        var first = Array.FindIndex(bins, b => b > 0);
        var last = Array.FindLastIndex(bins, b => b > 0);
        if (first < 0)
        {
            return;
        }
        var d = new System.Text.StringBuilder();
        d.Append(CultureInfo.InvariantCulture, $"M{N(axis.BinLeft(first))},{N(HistBottom)}");
        for (var i = first; i <= last; i++)
        {
            d.Append(CultureInfo.InvariantCulture, $" L{N(axis.BinLeft(i))},{N(Y(bins[i]))} L{N(axis.BinLeft(i + 1))},{N(Y(bins[i]))}");
        }
        d.Append(CultureInfo.InvariantCulture, $" L{N(axis.BinLeft(last + 1))},{N(HistBottom)} Z");
        xml.WriteStartElement("path");
        xml.WriteAttributeString("class", "histogram");
        xml.WriteAttributeString("d", d.ToString());
        xml.WriteAttributeString("fill", color);
        xml.WriteAttributeString("fill-opacity", "0.12");
        xml.WriteAttributeString("stroke", color);
        xml.WriteAttributeString("stroke-width", "1.6");
        xml.WriteAttributeString("stroke-linejoin", "round");
        xml.WriteEndElement();
    }

    private static void CdfPath(XmlWriter xml, LogAxis axis, LatencyHistogram histogram, string color)
    {
        double Y(double share) => CdfBottom - (CdfBottom - CdfTop) * share / 100;
        var points = new List<(double X, double Y)>();
        long seen = 0;
        foreach (var bucket in histogram.Buckets())
        {
            if (points.Count == 0)
            {
                points.Add((axis.X(Math.Max(1, bucket.Low)), Y(0)));
            }
            seen += bucket.Count;
            var x = axis.X(Math.Max(1, Math.Min(bucket.High, histogram.Max)));
            var y = Y(100.0 * seen / histogram.TotalCount);
            // One point per half-pixel column: the highest share reached within it.
            if (points.Count > 1 && Math.Floor(x * 2) == Math.Floor(points[^1].X * 2))
            {
                points[^1] = (x, y);
            }
            else
            {
                points.Add((x, y));
            }
        }
        xml.WriteStartElement("polyline");
        xml.WriteAttributeString("class", "cdf");
        xml.WriteAttributeString("points", string.Join(' ', points.Select(p => $"{N(p.X)},{N(p.Y)}")));
        xml.WriteAttributeString("fill", "none");
        xml.WriteAttributeString("stroke", color);
        xml.WriteAttributeString("stroke-width", "2");
        xml.WriteAttributeString("stroke-linejoin", "round");
        xml.WriteEndElement();
    }

    private static void Legend(XmlWriter xml, IReadOnlyList<LatencySeries> series)
    {
        xml.WriteStartElement("g");
        xml.WriteAttributeString("class", "legend");
        Text(xml, LegendLeft, HistTop + 4, "series (p50 · p99 · p99.9, µs)", 12, "start", "#222", "bold");
        var y = HistTop + 28;
        var plottedIndex = 0;
        foreach (var s in series)
        {
            var color = s.Recorder.Count > 0 ? Palette[plottedIndex++ % Palette.Length] : "#bbbbbb";
            xml.WriteStartElement("g");
            xml.WriteAttributeString("class", "legend-entry");
            xml.WriteAttributeString("data-label", s.Label);
            Rect(xml, LegendLeft, y - 9, 22, 10, color, null);
            Text(xml, LegendLeft + 30, y, s.Label, 12, "start", "#222");
            var st = s.Statistics;
            var detail = st.Count == 0
                ? "no samples"
                : $"{FormatMicros(st.P50)} · {FormatMicros(st.P99)} · {FormatMicros(st.P999)} · n {st.Count}";
            Text(xml, LegendLeft + 30, y + 15, detail, 11, "start", "#666");
            xml.WriteEndElement();
            y += 38;
        }
        xml.WriteEndElement();
    }

    private static string FormatMicros(double nanoseconds)
    {
        var us = nanoseconds / 1000;
        var format = us switch { < 0.1 => "0.###", < 1 => "0.##", < 10 => "0.##", < 100 => "0.#", _ => "0" };
        return us.ToString(format, CultureInfo.InvariantCulture);
    }

    private static double NiceFloor(double v)
    {
        var decade = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 5.0, 2.0, 1.0 })
        {
            if (m * decade <= v)
            {
                return m * decade;
            }
        }
        return decade;
    }

    private static double NiceCeiling(double v)
    {
        var decade = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1.0, 2.0, 5.0, 10.0 })
        {
            if (m * decade >= v * (1 - 1e-12))
            {
                return m * decade;
            }
        }
        return 10 * decade;
    }

    private static void Text(XmlWriter xml, double x, double y, string text, double size, string anchor, string fill, string? weight = null)
    {
        xml.WriteStartElement("text");
        Attr(xml, "x", x);
        Attr(xml, "y", y);
        Attr(xml, "font-size", size);
        xml.WriteAttributeString("text-anchor", anchor);
        xml.WriteAttributeString("fill", fill);
        if (weight is not null)
        {
            xml.WriteAttributeString("font-weight", weight);
        }
        xml.WriteString(text);
        xml.WriteEndElement();
    }

    private static void Line(XmlWriter xml, double x1, double y1, double x2, double y2, string stroke, double width)
    {
        xml.WriteStartElement("line");
        Attr(xml, "x1", x1);
        Attr(xml, "y1", y1);
        Attr(xml, "x2", x2);
        Attr(xml, "y2", y2);
        xml.WriteAttributeString("stroke", stroke);
        Attr(xml, "stroke-width", width);
        xml.WriteEndElement();
    }

    private static void Rect(XmlWriter xml, double x, double y, double w, double h, string fill, string? stroke)
    {
        xml.WriteStartElement("rect");
        Attr(xml, "x", x);
        Attr(xml, "y", y);
        Attr(xml, "width", w);
        Attr(xml, "height", h);
        xml.WriteAttributeString("fill", fill);
        if (stroke is not null)
        {
            xml.WriteAttributeString("stroke", stroke);
        }
        xml.WriteEndElement();
    }

    private static void Attr(XmlWriter xml, string name, double value) => xml.WriteAttributeString(name, N(value));

    private static string N(double value) => Math.Round(value, 2).ToString(CultureInfo.InvariantCulture);

    /// <summary>Logarithmic latency axis in nanoseconds, with its histogram bins (about 40 per decade).</summary>
    private sealed class LogAxis
    {
        private readonly double _logLo;
        private readonly double _logHi;
        private readonly double _left;
        private readonly double _right;

        public LogAxis(double lo, double hi, double left, double right)
        {
            _logLo = Math.Log10(lo);
            _logHi = Math.Log10(hi);
            _left = left;
            _right = right;
            Bins = (int)Math.Clamp(Math.Round((_logHi - _logLo) * 40), 24, 160);
        }

        public int Bins { get; }

        public double X(double value) =>
            _left + (_right - _left) * (Math.Log10(Math.Max(value, 1e-3)) - _logLo) / (_logHi - _logLo);

        public int BinOf(double value) =>
            Math.Clamp((int)((Math.Log10(value) - _logLo) / (_logHi - _logLo) * Bins), 0, Bins - 1);

        public double BinLeft(int bin) => _left + (_right - _left) * bin / Bins;

        /// <summary>1-2-5 steps are major (labelled); 3,4,6..9 are minor when the axis spans few decades.</summary>
        public IEnumerable<(double Value, bool Major)> Ticks()
        {
            var decades = _logHi - _logLo;
            for (var e = Math.Floor(_logLo); e <= Math.Ceiling(_logHi); e++)
            {
                for (var m = 1; m <= 9; m++)
                {
                    var v = m * Math.Pow(10, e);
                    var log = Math.Log10(v);
                    if (log < _logLo - 1e-9 || log > _logHi + 1e-9)
                    {
                        continue;
                    }
                    var major = m is 1 or 2 or 5 || decades < 1.2;
                    if (decades > 4 && m != 1)
                    {
                        major = false;
                    }
                    yield return (v, major);
                }
            }
        }
    }
}
