import { checkRewriteBudget, parsePlaylist, PlaylistSyntaxError } from '../../../src/hls/playlist';

describe('checkRewriteBudget', () => {
  const text = `#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1,\na.ts\n#EXTINF:1,\nb.ts\n`;
  const playlist = parsePlaylist(text);

  it('counts every URI, in lines and in URI attributes, before anything is rewritten', () => {
    // 4 URIs: the key, the map, two segments.
    expect(() => checkRewriteBudget(playlist, text.length, 100, text.length + 400)).not.toThrow();
    expect(() => checkRewriteBudget(playlist, text.length, 100, text.length + 399)).toThrow(
      new PlaylistSyntaxError(`the rewritten playlist would pass ${text.length + 399} characters`),
    );
  });
});
