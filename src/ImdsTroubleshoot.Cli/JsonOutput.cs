using System;
using System.Collections;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Security;
using System.Text;
using System.Text.Json;

namespace ImdsTroubleshoot.Cli;

/// <summary>Writes pipeline output as JSON for automation: public properties, enums as names, secrets never.</summary>
internal static class JsonOutput
{
    private const int MaxDepth = 6;

    public static string Serialize(System.Collections.Generic.IReadOnlyList<PSObject> items)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartArray();
            foreach (var item in items)
            {
                WriteValue(w, item, 0);
            }

            w.WriteEndArray();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteValue(Utf8JsonWriter w, object? value, int depth)
    {
        if (value is PSObject pso && pso.BaseObject is not PSCustomObject)
        {
            value = pso.BaseObject;
        }

        switch (value)
        {
            case null:
                w.WriteNullValue();
                return;
            case string s:
                w.WriteStringValue(s);
                return;
            case bool b:
                w.WriteBooleanValue(b);
                return;
            case Enum e:
                w.WriteStringValue(e.ToString());
                return;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                w.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                return;
            case double d when double.IsFinite(d):
                w.WriteNumberValue(d);
                return;
            case float f when float.IsFinite(f):
                w.WriteNumberValue(f);
                return;
            case decimal m:
                w.WriteNumberValue(m);
                return;
            case DateTime dt:
                w.WriteStringValue(dt.ToString("o", CultureInfo.InvariantCulture));
                return;
            case DateTimeOffset dto:
                w.WriteStringValue(dto.ToString("o", CultureInfo.InvariantCulture));
                return;
            case TimeSpan ts:
                w.WriteStringValue(ts.ToString("c", CultureInfo.InvariantCulture));
                return;
            case SecureString:
                w.WriteStringValue("(hidden)");
                return;
            case Uri or Guid or System.Net.IPAddress or System.Net.IPEndPoint or Version:
                w.WriteStringValue(value.ToString());
                return;
            case ScriptBlock:
                w.WriteStringValue(value.ToString());
                return;
        }

        if (depth >= MaxDepth)
        {
            w.WriteStringValue(value.ToString());
            return;
        }

        if (value is IDictionary dict)
        {
            w.WriteStartObject();
            foreach (DictionaryEntry entry in dict)
            {
                w.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty);
                WriteValue(w, entry.Value, depth + 1);
            }

            w.WriteEndObject();
            return;
        }

        if (value is IEnumerable sequence)
        {
            w.WriteStartArray();
            foreach (object? item in sequence)
            {
                WriteValue(w, item, depth + 1);
            }

            w.WriteEndArray();
            return;
        }

        var wrapped = PSObject.AsPSObject(value);
        w.WriteStartObject();
        foreach (var property in wrapped.Properties)
        {
            if (!property.IsGettable || property is PSScriptProperty)
            {
                continue;
            }

            object? v;
            try
            {
                v = property.Value;
            }
            catch (GetValueException)
            {
                continue;
            }

            w.WritePropertyName(property.Name);
            WriteValue(w, v, depth + 1);
        }

        w.WriteEndObject();
    }
}
