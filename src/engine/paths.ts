/**
 * The data root's layout, after Docker's overlay2 driver:
 *
 *   bunker.db                 metadata: images, tags, layers, containers (SQLite, WAL)
 *   overlay2/<cache-id>/diff  one unpacked image layer, or a container's upper dir
 *   overlay2/<cache-id>/link  the short name under overlay2/l/ (keeps overlay mount options under a page)
 *   overlay2/<cache-id>/lower the short lower chain ("l/ABC:l/DEF"), top layer first
 *   overlay2/<cache-id>/work, merged   a container's overlay work dir and mount point
 *   overlay2/l/<short>        symlink to ../<cache-id>/diff
 *   containers/<id>/          a container's config, logs, hostname, hosts, resolv.conf
 *   volumes/<name>/_data      a local volume's data (Docker's layout; the rows live in bunker.db)
 *   removing/<id>             a container removal in progress (containers/removal.ts finishes it after a crash)
 *   overlay2/<cache-id>/tar-split.gz, tar-size   an image layer's tar without file bodies (src/fs/tar-split.ts)
 *   tmp/                      downloads and unpacks in progress (removed at start if stale)
 *   locks/                    flock(2) files; a lock dies with its process, so kill -9 never wedges a pull
 */
/**
 * Paths under one data root. Plain string joins of a normalised root and engine-made names (hex IDs, fixed
 * words): listings build one path per container, and node:path's join costs more than the rest of the row.
 */
export class DataRoot {
  /** The data root without trailing slashes. */
  readonly root: string;
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "") || "/";
  }
  get db() {
    return `${this.root}/bunker.db`;
  }
  get overlay() {
    return `${this.root}/overlay2`;
  }
  get shortLinks() {
    return `${this.root}/overlay2/l`;
  }
  layerDir(cacheId: string) {
    return `${this.root}/overlay2/${cacheId}`;
  }
  layerDiff(cacheId: string) {
    return `${this.root}/overlay2/${cacheId}/diff`;
  }
  get containers() {
    return `${this.root}/containers`;
  }
  containerDir(id: string) {
    return `${this.root}/containers/${id}`;
  }
  get volumes() {
    return `${this.root}/volumes`;
  }
  volumeData(name: string) {
    return `${this.root}/volumes/${name}/_data`;
  }
  get tmp() {
    return `${this.root}/tmp`;
  }
  lock(name: string) {
    return `${this.root}/locks/${name}`;
  }
}
